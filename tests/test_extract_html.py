"""HTML: the main text only (no navigation, header, footer, scripts or styles), heading paths, tables."""
from __future__ import annotations

from pathlib import Path

from indexing.extract.html import HtmlExtractor
from indexing.extract.protocol import Limits, Place
from indexing.extract.sandbox import ExtractionPool

PAGE = """<html><head><meta charset="gbk"><title>避风港原则 - 法律百科</title>
<style>p{color:red}</style><script>var x="脚本文字";</script></head>
<body><nav><a href="/">首页</a> <a href="/law">法律</a></nav><header>站点头部</header>
<main><h1>避风港原则</h1><p>避风港原则指网络服务提供者<b>在仅提供</b>技术服务时免责。</p>
<h2>起源</h2><p>起源于美国 1998 年的 DMCA。</p><ul><li>第一点</li><li>第二点</li></ul>
<table><tr><th>法规</th><th>年份</th></tr><tr><td>DMCA</td><td>1998</td></tr></table>
<h2>中国</h2><div>2006 年引入。<br>民法典第 1197 条。</div><pre>第一行
  第二行</pre></main>
<footer>版权所有</footer></body></html>"""


def test_main_text_with_heading_paths_and_no_navigation(tmp_path: Path):
    path = tmp_path / "page.html"
    path.write_bytes(PAGE.encode("gbk"))  # a GBK page, as many Chinese sites still serve
    got = HtmlExtractor().extract(path, Limits())
    assert got.title == "避风港原则 - 法律百科"
    assert [(b.place, b.heading, b.text) for b in got.blocks] == [
        (Place("part", 1), ("避风港原则",), "避风港原则\n\n避风港原则指网络服务提供者在仅提供技术服务时免责。"),
        (Place("part", 2), ("避风港原则", "起源"),
         "起源\n\n起源于美国 1998 年的 DMCA。\n\n第一点\n\n第二点\n\n法规 | 年份\n\nDMCA | 1998"),
        (Place("part", 3), ("避风港原则", "中国"), "中国\n\n2006 年引入。\n\n民法典第 1197 条。\n\n第一行\n  第二行"),
    ]


def test_without_main_page_furniture_is_known_by_role_class_and_id(tmp_path: Path):
    path = tmp_path / "old-site.htm"
    path.write_text(
        '<body class="has-sidebar nav-open"><div class="nav">频道导航</div><div id="left-sidebar">热门文章</div>'
        '<div class="content"><p>正文第一段。</p><div role="navigation">上一篇 下一篇</div></div>'
        '<div class="site-footer">联系我们</div></body>', encoding="utf-8")
    assert [b.text for b in HtmlExtractor().extract(path, Limits()).blocks] == ["正文第一段。"]


def test_deep_markup_is_read_without_recursion_and_hostile_depth_costs_one_timeout(tmp_path: Path):
    """5,000 nested elements are read (the walk keeps its own stack); 100,000 make the HTML parser itself
    quadratic, and the worker's time budget turns that into one failed line."""
    deep = tmp_path / "deep.htm"
    deep.write_text("<div>" * 5_000 + "深处的文字" + "</div>" * 5_000, encoding="utf-8")
    hostile = tmp_path / "hostile.htm"
    hostile.write_text("<div>" * 100_000 + "x" + "</div>" * 100_000, encoding="utf-8")
    with ExtractionPool(Limits(seconds=3)) as pool:
        assert pool.extract(deep).blocks[0].text == "深处的文字"
        got = pool.extract(hostile)
        assert (got.status, got.reason) == ("failed", "timed out after 3 s (worker restarted)")
        assert pool.extract(deep).status == "indexed"
