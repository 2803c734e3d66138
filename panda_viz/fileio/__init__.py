"""Files read as data and written atomically: bytes in, plain data out, bounded, never running code."""
