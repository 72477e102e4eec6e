"""What every other room uses: errors, paths, the TensorFlow import (legacy-Keras guard),
quiet native output, and report (saving tables, figures and results.json)."""
