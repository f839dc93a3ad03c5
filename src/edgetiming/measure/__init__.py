"""How to time: closed and open loops, sessions, process isolation, cold start, batching, pipelines, the LoadGen cross-check and monitoring."""
