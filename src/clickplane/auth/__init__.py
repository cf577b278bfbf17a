"""Who is calling and what they may do: API key authentication, secrets, the one permission map, rate limits."""
