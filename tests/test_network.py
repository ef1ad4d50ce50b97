"""Word of mouth among existing customers (sim/core/network.py): the network's degree and homophily, contagion of
defection along its ties, and stories that reach customers."""

from __future__ import annotations

import numpy as np
import pytest

from sim.core.config import Config
from sim.core.model import RelationshipModel
from sim.core.network import CustomerNetwork, WordOfMouth, gather
from sim.core.rng import MECHANISM_STREAMS, stream, streams


def _network(n: int = 30_000, **fields: float) -> CustomerNetwork:
    config = Config(n_customers=n, network_mean_degree=fields.pop("degree", 5.0), **fields)
    network = CustomerNetwork(config, stream(1, "network"))
    value = np.exp(1.68 * stream(2, "x").standard_normal(n) - 1.68**2 / 2)
    network.add(value[: n // 2])
    network.add(value[n // 2 :])  # grown in two blocks, as the arrival bank does
    return network


def test_gather_reads_a_csr_block() -> None:
    indptr = np.array([0, 2, 2, 5])
    indices = np.array([1, 2, 0, 1, 1])
    found, owner = gather(indptr, indices, np.array([2, 0, 1]))
    assert found.tolist() == [0, 1, 1, 1, 2] and owner.tolist() == [0, 0, 0, 1, 1]


def test_degree_has_the_set_mean_and_is_overdispersed() -> None:
    network = _network(network_degree_dispersion=1.0)
    degree = network.degree(np.arange(network.size))
    assert degree.mean() == pytest.approx(5.0, rel=0.05)
    assert degree.var() > 2 * degree.mean()  # a Poisson degree would have variance = mean
    plain = _network(network_degree_dispersion=0.0).degree(np.arange(network.size))
    assert plain.var() < degree.var()


def test_ties_are_undirected_and_homophilous() -> None:
    network = _network(network_homophily=0.8)
    ids = np.arange(network.size)
    contacts, owner = network.contacts(ids)
    same = network.decile[contacts] == network.decile[ids[owner]]
    # each tie is formed homophilously with probability 0.8 from one side (else at random: same decile 1 time in 10)
    assert same.mean() == pytest.approx(0.8 + 0.2 * 0.1, abs=0.03)
    back, _ = network.contacts(contacts[:1])
    assert ids[owner[0]] in back


def test_a_defection_exposes_the_defectors_contacts() -> None:
    config = Config(n_customers=2000, network_mean_degree=6.0, defection_contagion=0.8)
    model = RelationshipModel(config)
    people = model.population.active()
    network = model.word_of_mouth.network
    leaver = np.array([int(np.argmax(network.degree(np.arange(2000))))])
    model.word_of_mouth.defections(people, leaver, model.population.next_id)
    contacts, _ = network.contacts(leaver)
    exposed = np.flatnonzero(people["exposure"] > 0)
    assert len(exposed) > 0 and set(exposed) == set(contacts[contacts < 2000])  # positions are ids before churn
    odds = model.word_of_mouth.odds(people)
    assert odds[exposed].min() >= 1.4 and np.all(odds[people["exposure"] == 0] == 1)
    before = people["exposure"].copy()
    model.word_of_mouth.decay(people)
    assert np.allclose(people["exposure"], before * np.exp(-1.0 / config.contagion_decay_months))


def test_contagion_raises_churn() -> None:
    common = {"n_customers": 10_000, "years": 3, "network_mean_degree": 10.0, "seed": 4}
    calm = RelationshipModel(**common).run().monthly()["left"].sum()
    spreading = RelationshipModel(**common, defection_contagion=1.5).run().monthly()["left"].sum()
    assert spreading > 1.05 * calm


def test_stories_reach_contacts_and_prospects() -> None:
    common = {"n_customers": 5000, "years": 2, "seed": 4, "network_mean_degree": 5.0}
    base = RelationshipModel(**common).run().monthly()
    told = (
        RelationshipModel(**common, satisfied_story_rate=3.0, dissatisfied_story_rate=3.0, wom_customer_effect=0.05)
        .run()
        .monthly()
    )
    assert (told["happy_tellers"] > base["happy_tellers"]).all()
    assert (told["unhappy_tellers"] > base["unhappy_tellers"]).all()
    assert not np.allclose(told["mean_satisfaction"].iloc[1:], base["mean_satisfaction"].iloc[1:])


def test_the_network_uses_only_its_own_streams() -> None:
    config = Config(n_customers=100, network_mean_degree=5.0, satisfied_story_rate=1.0)
    word = WordOfMouth(config, streams(3, MECHANISM_STREAMS))
    assert word.network is not None and word.telling and not word.contagion
