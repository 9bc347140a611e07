# Loss ablation: BCE (APL with all gammas 0, no clip, ASL polynomial).
_base_ = ['../shapes_demo.py']
model = dict(
    head=dict(
        loss=dict(
            _delete_=True,
            type='AsymmetricPolynomialLoss',
            gamma_pos=0, gamma_neg=0, clip=0.0, alpha1=1.0, alpha2=0.5, beta1=1.0)))
