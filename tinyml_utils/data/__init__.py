"""Data: the datasets (:mod:`.datasets`, one module per dataset) and the feature
computations (:mod:`.features`: windows, motion channels, log-mel, MFCC, augmentation)."""
