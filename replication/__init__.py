"""What makes leaderless a replicated store: clock, records, merge, quorum, backends."""
