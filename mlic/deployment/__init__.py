"""Deployment: the ONNX export of a trained model (images -> scores)."""
from .onnx import ScoresModel, export_onnx, onnx_scores, scores_model

__all__ = ['ScoresModel', 'export_onnx', 'onnx_scores', 'scores_model']
