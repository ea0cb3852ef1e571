"""The send queue's workers: preparation, paced FIFO sending, receipts, expiry, crash recovery."""
