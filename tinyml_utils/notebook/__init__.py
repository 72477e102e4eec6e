"""Notebook support: the headless runner (:mod:`.runner`), the template for new notebooks
(:mod:`.template`), the steps notebooks 01-04 share (:mod:`.app_story`), Netron (:mod:`.viewer`)."""
