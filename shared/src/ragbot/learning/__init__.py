"""The learning loop (DESIGN §7): what the interaction log says about where answers fail, and what to do about it."""
