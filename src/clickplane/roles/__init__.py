"""System and custom roles, their policies and holders; the rule that nobody grants more than they hold."""
