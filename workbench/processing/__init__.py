"""Point-in-time customer features and (later) nightly processing of active audiences."""
