"""Speech engines: each turns text into a WAV file plus one timed entry per written word."""
