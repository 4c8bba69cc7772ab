"""``python -m swin_viz [img_size]``: parameters and MACs of Swin-T/S/B/L."""

import sys

from .flops import model_table

print(model_table(int(sys.argv[1]) if len(sys.argv) > 1 else 224))
