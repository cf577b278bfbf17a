"""Members of an organization and invitations to join it."""
