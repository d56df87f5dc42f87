"""Word lists of the Bias-NLI template generator (Dev et al. 2020, "On Measuring and
Mitigating Biased Inferences of Word Embeddings", AAAI 2020).

One split per list (``occupations``, ``gendered_words``, ``eating_verbs``, ``food``, ...),
each a ``datasets.Dataset`` with one column ``word``. The sentence pairs are built by
:mod:`peftdebias.metrics.bias_nli_templates`.
"""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset

from ...errors import DataError
from ..download import pinned
from ..registry import DataSource, register

_REPO = "sunipa/On-Measuring-and-Mitigating-Biased-Inferences-of-Word-Embeddings"
_COMMIT = "e39da89"

_LISTS: dict[str, str] = {
    "occupations": "nouns/people/occupations",
    "gendered_words": "nouns/people/gendered_words",
    "rulers": "nouns/people/rulers",
    "country_demonyms": "nouns/people/country_demonyms",
    "religion_demonyms": "nouns/people/religion_demonyms",
    "polarized_nouns": "nouns/people/polarized_nouns",
    "person_hyponyms": "nouns/people/person_hyponyms",
    "food": "nouns/objects/food",
    "farm_animals": "nouns/objects/farm_animals",
    "household": "nouns/objects/household",
    "clothes": "nouns/objects/clothes",
    "furniture": "nouns/objects/furniture",
    "vehicles": "nouns/objects/vehicles",
    "eating_verbs": "verbs/eating_verbs",
    "driving_verbs": "verbs/driving_verbs",
    "commerce_verbs": "verbs/commerce_verbs",
    "interaction_verbs": "verbs/interaction_verbs",
    "religions": "adjectives/religions",
    "ethnicities": "adjectives/ethnicities",
    "countries": "adjectives/countries",
    "color": "adjectives/color",
    "class": "adjectives/class",
    "age_adjectives": "adjectives/age_adjectives",
    "able_adjectives": "adjectives/able_adjectives",
    "hair_adjectives": "adjectives/hair_adjectives",
    "physical_adjectives": "adjectives/physical_adjectives",
    "polarized_adjectives": "adjectives/polarized_adjectives",
}

# SHA-256 of each list at the pinned commit, keyed by split.
_SHA256: dict[str, str] = {
    "occupations": "ee2d12e38219b797bdec5ebbe06f20c790e3cf6745630ab3dab20a3dd8a9b1f5",
    "gendered_words": "0a60b4fbbba2c31968c4e2bba62f18081e8f81441b74a8570ca817fdfe4ce812",
    "rulers": "214edfd888a1c6cea2077d0c49e1b0a69ad0c0676e27e565c820827061722b13",
    "country_demonyms": "eff045000a3a1c533a664247a20af292901f33d760adab7859789a8cf9d3490e",
    "religion_demonyms": "fa50b1eca63bdcdc6c6924ae4d85bed2daba3258c7abaa8ff292b94b855a20a3",
    "polarized_nouns": "31a516374f315f1bc501cf545a4dc1401690e03b83f68071e5367335c8eb388f",
    "person_hyponyms": "8a4b0cdeea618776fcb0a32deb75117163f05ffad9d8cf59ae4143d2c7af7e77",
    "food": "1e9f23e8c22fb4023cf3c74f12b26c4dbbf2a0078de297801091967dd2a6bb12",
    "farm_animals": "523bd8fd6f230d22efd2d5724ee13e6bfa97e0f3516c454b8bb0a3c27140764e",
    "household": "395c1891290031d1dbeddefc08f0a3b112bed1797dd1d209ff6118725759cb07",
    "clothes": "aa98735ee588213a22bb6f1fcc221e5444acfc3e487ca2132e7747f4f32a2e97",
    "furniture": "9ce6233904dfbfb1ebf91b71882c2ed8b287da4f91220d4211e7e182df885344",
    "vehicles": "10a9f0e2948d89389b585d4a74ef164a74257429905397f47afa138509c0958b",
    "eating_verbs": "ca6c22b364b6ec16c6ac32f4b6ff01a1c8644718db95f593ea989d4ccdd47ee0",
    "driving_verbs": "b8d7c28ba4d079de6746a2e909bb5583d218932a8240ef19136f5381aa22037a",
    "commerce_verbs": "a21aa9b2830594fd7c49c5373d04f2b03a5906d2c03a7e57e036187398082a04",
    "interaction_verbs": "97a2d7b64f0c92221811228aa537eee655c98217124049c1593b037169298e34",
    "religions": "97bcdabb347248b317f0de0b397276af8b100e68d136baebde77e09c9ba10787",
    "ethnicities": "1083d2ab17f5792b374565335c791e860b0ccbd25759eff33d355dca83ec32ee",
    "countries": "2d4e50799abeeab1f866fcaf418f5b88d0767a46ca63272c3ab7c075d200dac1",
    "color": "2bf68f8bc6e09b465eca00574328874545330021f7623e77db307b431d9dd90e",
    "class": "b3f9b4b90606bf01e47a5fd3ac73f2b572fd6d44637f21845587d388e70a933e",
    "age_adjectives": "9b6ef8bf53bd8abc7680d832b51ee990997f9eaf5f9b1742d5fb10487f3c9269",
    "able_adjectives": "8a0a18cebc25a8d4cd773b077d90d2ef3e7816cda4f80251df16c6ea44956c5f",
    "hair_adjectives": "d03e3f3b1c1047614027f5f03bfcaef568cfc16dd11d954cbd856dac771d366f",
    "physical_adjectives": "3f0e96ff1504ea4df4fdbd97dc2a6f5f8963453e622050d06a59054b57a1f822",
    "polarized_adjectives": "4d68332e63d165a6eacc2acae1cdd98e8484e6e7290a7ab2356ca252e58d63f8",
}


def _word_list(path: Path, split: str) -> Dataset:
    """One word (or multi-word phrase) per line -> ``Dataset`` with column ``word``."""
    if not path.is_file():
        raise DataError(f"word list {path} does not exist")
    words = [" ".join(line.split()) for line in path.read_text(encoding="utf-8").splitlines()]
    words = [word for word in words if word]
    if not words:
        raise DataError(f"word list {path} (bias-nli-words split {split!r}) is empty")
    return Dataset.from_dict({"word": words})


_files = {split: f"bias_nli_words/{relative}" for split, relative in _LISTS.items()}
register(
    DataSource(
        name="bias-nli-words",
        description="Bias-NLI word lists (Dev et al. 2020): occupations, gendered words, ...",
        kind="words",
        files=_files,
        loader=_word_list,
        columns=("word",),
        source=f"{_REPO} (GitHub) @{_COMMIT}, word_lists/",
        urls=pinned(_REPO, _COMMIT, {_files[k]: f"word_lists/{v}" for k, v in _LISTS.items()}),
        sha256={_files[split]: digest for split, digest in _SHA256.items()},
    )
)
