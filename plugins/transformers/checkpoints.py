"""The official checkpoints zoo runs: hub id, pinned revision, weights file, the transformers classes that build
the architecture. The box AP their authors publish lives in registry.yaml (``published:``)."""

from __future__ import annotations

from typing import Any

# id -> what the class needs. ``revision``: the commits pinned are those a public record shows with that weights
# file (copies of each repository's cache: snapshots/<commit>/; for yolos-tiny, gregorycotton/weBG's README, which
# downloads model.safetensors at that commit); conditional-detr-resnet-50 and rtdetr_r50vd follow ``main``, no public
# record of a commit having been found, and a run records the commit it loaded. The architectures are those of the
# official checkpoints, written as arguments of transformers' config classes (the defaults of DetrConfig,
# ConditionalDetrConfig, DeformableDetrConfig and RTDetrConfig are the ResNet-50 checkpoints'; RT-DETR R18 and
# YOLOS-tiny follow transformers' conversion scripts).
MODELS: dict[str, dict[str, Any]] = {
    "detr-resnet-50": dict(
        hub_id="facebook/detr-resnet-50",
        revision="1d5f47bd3bdd2c4bbfa585418ffe6da5028b4c0b",
        config_class="DetrConfig",
        model_class="DetrForObjectDetection",
        processor_class="DetrImageProcessor",
        description="DETR, ResNet-50 (transformers, facebook/detr-resnet-50, COCO)",
    ),
    "conditional-detr-resnet-50": dict(
        hub_id="microsoft/conditional-detr-resnet-50",
        config_class="ConditionalDetrConfig",
        model_class="ConditionalDetrForObjectDetection",
        processor_class="ConditionalDetrImageProcessor",
        top_k=100,
        description="Conditional DETR, ResNet-50 (transformers, microsoft/conditional-detr-resnet-50, COCO)",
    ),
    "deformable-detr": dict(
        hub_id="SenseTime/deformable-detr",
        revision="83ecd26945199939cb82806f988debdb71e6f43e",
        weights_file="pytorch_model.bin",
        config_class="DeformableDetrConfig",
        model_class="DeformableDetrForObjectDetection",
        processor_class="DeformableDetrImageProcessor",
        top_k=100,
        description="Deformable DETR, ResNet-50 (transformers, SenseTime/deformable-detr, COCO)",
    ),
    "rtdetr_r18vd": dict(
        hub_id="PekingU/rtdetr_r18vd",
        revision="ac77a11ff0170a41b771c03264987f8ce2b0d753",
        config_class="RTDetrConfig",
        model_class="RTDetrForObjectDetection",
        processor_class="RTDetrImageProcessor",
        label_space="coco80",
        architecture=dict(
            backbone_config=dict(
                model_type="rt_detr_resnet",
                hidden_sizes=[64, 128, 256, 512],
                depths=[2, 2, 2, 2],
                layer_type="basic",
                out_indices=[2, 3, 4],
            ),
            encoder_in_channels=[128, 256, 512],
            hidden_expansion=0.5,
            decoder_layers=3,
        ),
        description="RT-DETR, ResNet-18-vd (transformers, PekingU/rtdetr_r18vd, COCO)",
    ),
    "rtdetr_r50vd": dict(
        hub_id="PekingU/rtdetr_r50vd",
        config_class="RTDetrConfig",
        model_class="RTDetrForObjectDetection",
        processor_class="RTDetrImageProcessor",
        label_space="coco80",
        description="RT-DETR, ResNet-50-vd (transformers, PekingU/rtdetr_r50vd, COCO)",
    ),
    "yolos-tiny": dict(
        hub_id="hustvl/yolos-tiny",
        revision="1a00cc14a139ff40bac9aa00c745915cb7b5b751",
        config_class="YolosConfig",
        model_class="YolosForObjectDetection",
        processor_class="YolosImageProcessor",
        architecture=dict(
            hidden_size=192,
            intermediate_size=768,
            num_hidden_layers=12,
            num_attention_heads=3,
            image_size=[800, 1333],
            use_mid_position_embeddings=False,
        ),
        processor_options=dict(size={"shortest_edge": 512, "longest_edge": 1333}),
        description="YOLOS-tiny, a plain ViT detector (transformers, hustvl/yolos-tiny, COCO)",
    ),
}
