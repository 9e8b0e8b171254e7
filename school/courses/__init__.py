"""Video courses, the practical-skills (农村实用技术) track, verified watch progress, offline packs."""
