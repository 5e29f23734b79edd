"""Analysis that needs no TensorFlow: diagnosis, scores, calibration, statistics, compare,
curves and figures, the HTML report."""
