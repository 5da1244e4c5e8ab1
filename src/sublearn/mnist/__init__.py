"""The MNIST auxiliary-logit experiment (paper §6.2): subliminal learning through noise and shared init."""
