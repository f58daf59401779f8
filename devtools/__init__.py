"""Developer tools, never deployed: the vendor simulator, the local cloud and its commands."""
