"""relsim outputs layer."""
