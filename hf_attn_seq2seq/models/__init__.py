"""The models, one folder each: the files in a folder are those `save_pretrained` copies next to the weights, so that
a saved folder loads with remote code (`trust_remote_code=True`) on torch and transformers alone."""
