"""Quiz: the pure engine (questions, distractors) and schedule (Leitner boxes,
certification), the photo pools, and the service that keeps sessions in the records."""
