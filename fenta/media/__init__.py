"""Media tools below both `render` and `tts`: choosing and checking FFmpeg (ffmpeg), probing files
(probe), running it (run), and answers kept per binary (verdicts)."""
