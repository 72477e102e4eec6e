"""The model: the CNN template (:mod:`.cnn`) and training and evaluation (:mod:`.train`).
App-agnostic: an app's recipe (:mod:`tinyml_utils.apps`) names the model it uses."""
