"""Getting notifications out: waking long-polls, and POSTing webhooks through the SSRF guard."""
