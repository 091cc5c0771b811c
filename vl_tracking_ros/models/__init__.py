"""vl_tracking_ros.models: torch building blocks, one idea per file.

image_encoder  frozen EfficientNet-Lite0 / HF vision trunk (stride 16)
text_encoder   frozen all-MiniLM-L6-v2 / HF text encoder, cached per command
fusion         COST/MVLM one-stage fusion transformer ([OBJ]; text; image)
meme           XTrack mixture of modal experts (router, experts, EdgeMix, prompt)
heads          centre heatmap / offset / size head, VL correlation head
network        the per-frame network assembling the above (exportable)
search_region  crops, X-modality normalisation (numpy / OpenCV)
candidates     candidate decoding + region-average correlation (numpy)
gating         MVLM confidence and memory-gated search (numpy)
weights        safetensors save/load with manifest hash + config checks
"""
