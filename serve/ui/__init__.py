"""The Gradio tabs: one module per tab, shared helpers in common.py, the trainer tab's
handlers and views beside it. Layout code only wires named handlers to components."""
