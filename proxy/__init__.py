"""Client-facing side of leaderless: RESP codec, commands, sessions, listener, CLI."""
