"""Named search spaces as data: one YAML file per space, referred to by file stem in sweep configs."""
