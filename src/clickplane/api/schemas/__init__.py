"""Wire models of the Cloud API v1: field names, types and enums as the reference defines them."""
