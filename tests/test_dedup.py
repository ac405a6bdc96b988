from indexing.dedup import group_near_duplicates, signature

BASE = ("大语言模型的推理速度很大程度上取决于KV缓存的管理方式。每生成一个新词，模型都要读取之前所有词的键和值，"
        "因此缓存越大，显存占用越高。分页注意力把缓存切成固定大小的块，像操作系统管理内存页一样按需分配。")
OTHER = ("黄河是世界上含沙量最大的河流之一，中游流经黄土高原，大量泥沙随水流进入河道。泥沙在下游沉积，"
         "使河床逐年抬高，形成地上河。治理黄河的关键在于水土保持和调水调沙，这需要几代人的努力。")


def test_reposts_with_a_header_and_spacing_changes_are_grouped():
    docs = [BASE, OTHER, "转载自技术社区。\n" + BASE.replace("。", "。 "), BASE + "（完）"]
    groups = group_near_duplicates([signature(d) for d in docs], threshold=0.8)
    assert list(groups) == [0, 1, 0, 0]


def test_different_texts_and_stubs_stay_apart():
    docs = [BASE, OTHER, "2024年1月1日", "2024年1月1日", ""]
    groups = group_near_duplicates([signature(d) for d in docs], threshold=0.8)
    assert list(groups) == [0, 1, 2, 3, 4]  # stubs are too short to judge


def test_signature_ignores_whitespace():
    assert (signature(BASE) == signature(" ".join(BASE))).all()
