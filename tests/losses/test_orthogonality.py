import torch

from interanimate.losses import orthogonality_loss


def test_zero_for_orthonormal_and_orthogonal_rows():
    q, _ = torch.linalg.qr(torch.randn(16, 8, generator=torch.Generator().manual_seed(0)))
    assert orthogonality_loss(q.t()).abs().item() < 1e-10  # 8 orthonormal rows in R^16
    assert orthogonality_loss(torch.diag(torch.tensor([3.0, 0.5, 7.0]))).item() == 0  # norms do not matter


def test_exact_value_on_a_hand_worked_matrix():
    # rows (1,0), (1,1), (0,2): normalised (1,0), (1,1)/√2, (0,1)
    # Gram off-diagonals: r1·r2 = 1/√2, r1·r3 = 0, r2·r3 = 1/√2 -> ‖G − I‖²_F = 4·(1/2) = 2, / K² = 2/9
    latents = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]], dtype=torch.float64)
    torch.testing.assert_close(orthogonality_loss(latents), torch.tensor(2.0 / 9.0, dtype=torch.float64))


def test_gradient_step_pushes_similar_rows_apart():
    latents = torch.tensor([[1.0, 0.1, 0.0], [1.0, -0.1, 0.05], [0.0, 0.0, 1.0]], requires_grad=True)

    def cos01(x):
        x = torch.nn.functional.normalize(x, dim=-1)
        return (x[0] @ x[1]).item()

    before = cos01(latents.detach())
    orthogonality_loss(latents).backward()
    after = cos01(latents.detach() - 0.1 * latents.grad)
    assert after < before
