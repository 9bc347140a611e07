# What every CSV config (CsvMultiLabel) shares: the ignored labels of the
# CSV's optional "ignored" column packed for the metric and the loss.
csv_pack = dict(type='PackInputs', algorithm_keys=('gt_label_ignore', ),
                meta_keys=('sample_idx', 'img_id', 'img_path', 'ori_shape',
                           'img_shape'))
