"""Unit tests of the A/B harness's arithmetic: python3 -m unittest discover -s benches/loader_ab."""
import unittest

from loader_ab import paired_median, summary


class PairedMedian(unittest.TestCase):
    def test_is_the_median_of_each_pairs_difference_not_the_difference_of_medians(self):
        a = [1.0, 10.0, 3.0]
        b = [2.0, 10.5, 7.0]
        self.assertEqual(paired_median(a, b), 1.0)
        self.assertNotEqual(paired_median(a, b), sorted(b)[1] - sorted(a)[1])

    def test_is_zero_for_one_version_against_itself(self):
        self.assertEqual(paired_median([5.0, 6.0], [5.0, 6.0]), 0.0)


class Summary(unittest.TestCase):
    def test_averages_each_measure_over_rounds_and_keeps_them(self):
        latency, cpu, per_latency, per_cpu = summary([(0.1, -0.2), (0.3, -0.4)])
        self.assertAlmostEqual(latency, 0.2)
        self.assertAlmostEqual(cpu, -0.3)
        self.assertEqual(per_latency, [0.1, 0.3])
        self.assertEqual(per_cpu, [-0.2, -0.4])


if __name__ == "__main__":
    unittest.main()
