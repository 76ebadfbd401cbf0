"""Work nobody waits for: the scheduler, the jobs it runs (also callable from the CLI), the
lease that keeps one worker active, and OS threads for work a web request starts."""
