"""UDFs: an organization's executable user-defined functions, their versions and their attachments to services."""
