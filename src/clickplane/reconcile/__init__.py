"""The reconcile loop: drives every resource toward its intent through the runtimes."""
