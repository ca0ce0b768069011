"""Starting, joining and securing the Ray cluster a sweep runs on."""
