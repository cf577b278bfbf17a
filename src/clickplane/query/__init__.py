"""The Query API: SQL run on a service and streamed back."""
