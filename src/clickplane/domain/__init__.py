"""Rules of the control plane: what is valid, what is allowed, what happens next."""
