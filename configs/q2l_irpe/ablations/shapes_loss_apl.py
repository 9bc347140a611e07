# Loss ablation: APL (the paper's; same as shapes_demo).
_base_ = ['../shapes_demo.py']
model = dict(
    head=dict(
        loss=dict(
            _delete_=True,
            type='AsymmetricPolynomialLoss',
            gamma_pos=0, gamma_neg=2, clip=0.05, alpha1=0.0, alpha2=1.75, beta1=1.0)))
