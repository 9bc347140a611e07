# shapes_combos.py with grouped label queries (ML-Decoder's group
# decoding): 24 queries, each decoding 9 of the 216 classes (the 3 sizes
# of 3 hues of one shape), instead of one query per class.
_base_ = ['./shapes_combos.py']
model = dict(head=dict(num_queries=24))
