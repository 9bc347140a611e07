# The built-in demo on the many-label variant of the built-in dataset:
# 216 classes (12 shapes x 6 hues x 3 sizes, e.g. 'blue_small_star'),
# generated on first use like the 12-class one. One label query per class,
# the paper's head; shapes_combos_grouped.py decodes them with 24 grouped
# queries (docs/large_scale.md has both runs side by side).
_base_ = ['./shapes_demo.py']
num_classes = 216
model = dict(head=dict(num_classes=num_classes))
data_preprocessor = dict(num_classes=num_classes)
train_dataloader = dict(dataset=dict(variant='combos'))
val_dataloader = dict(dataset=dict(variant='combos'))
test_dataloader = val_dataloader
