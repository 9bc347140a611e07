"""Deployment: the ONNX export of a trained model (images -> scores) and
the metadata a deployment reads (classes, thresholds, input size, resize)."""
from .onnx import (ScoresModel, deployment_metadata, export_onnx,
                   onnx_scores, read_metadata, scores_model, write_metadata)

__all__ = ['ScoresModel', 'export_onnx', 'onnx_scores', 'scores_model',
           'deployment_metadata', 'read_metadata', 'write_metadata']
