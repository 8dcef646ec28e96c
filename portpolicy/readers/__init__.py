"""One module per input format; ``portpolicy.registry`` says which module reads which file."""
