"""Package metadata for mlic; install_requires comes from requirements/."""
import os.path as osp
import re
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name):
    """Requirement lines of requirements/<name>.txt, comments dropped."""
    reqs = []
    with open(osp.join(HERE, 'requirements', name), encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line and not line.startswith('-'):
                reqs.append(line)
    return reqs


class BuildWithConfigs(build_py):
    """Ship configs/ inside the package (mlic/.mim/configs), so that a
    user's config can inherit ``mlic::q2l_irpe/...`` from an installed
    wheel; a source checkout (pip install -e .) reads configs/ itself."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        target = osp.join(self.build_lib, 'mlic', '.mim', 'configs')
        shutil.copytree(osp.join(HERE, 'configs'), target,
                        dirs_exist_ok=True)


def read_version():
    with open(osp.join(HERE, 'mlic', 'version.py'), encoding='utf-8') as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


setup(
    name='mlic',
    version=read_version(),
    description='Multi-label image classification toolbox (Query2Label-style '
    'Transformer with image relative position encoding and the Asymmetric '
    'Polynomial Loss), built on MMEngine and MMPretrain',
    long_description=open(osp.join(HERE, 'README.md'), encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
    python_requires='>=3.10,<3.13',
    install_requires=read_requirements('runtime.txt'),
    extras_require={
        # the tests install every extra, so that CI runs their tests too
        'tests': read_requirements('tests.txt') + read_requirements('ray.txt')
        + read_requirements('demo.txt') + read_requirements('browser.txt'),
        'optional': read_requirements('optional.txt'),
        'ray': read_requirements('ray.txt'),
        'demo': read_requirements('demo.txt'),
    },
    classifiers=[
        'Programming Language :: Python :: 3.10',
        'Programming Language :: Python :: 3.11',
        'Programming Language :: Python :: 3.12',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
    cmdclass={'build_py': BuildWithConfigs},
    zip_safe=False,
)
