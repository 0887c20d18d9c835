"""Media tools below both `render` and `tts`: locating, running and probing FFmpeg."""
