"""Identify: one photo or many -> decision, advice, heat map and species sheet.

predictor.py (bundle -> ONNX Runtime -> decision) · decisions.py (wording of a decision) ·
heatmap.py · species_card.py · batch.py (`python -m serve.predict`).
"""
